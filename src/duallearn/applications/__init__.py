"""``dl.applications``: Keras 3's pretrained image models (``keras.applications``).

Same function names, arguments, defaults, architectures and layer names as Keras, so Keras's
published ImageNet files load (fetched once with ``dl.utils.get_file`` into
``$DUALLEARN_HOME/models``); each family's module (``resnet``, ``resnet50``, ``resnet_v2``,
``vgg16``, ``vgg19``, ...) has its ``preprocess_input`` and ``decode_predictions``.
docs/applications.md lists the models and what is tested.
"""

from __future__ import annotations

from . import imagenet_utils as imagenet_utils
from . import resnet as resnet
from . import resnet50 as resnet50
from . import resnet_v2 as resnet_v2
from . import vgg16 as vgg16
from . import vgg19 as vgg19
from .resnet import ResNet50 as ResNet50
from .resnet import ResNet101 as ResNet101
from .resnet import ResNet152 as ResNet152
from .resnet_v2 import ResNet50V2 as ResNet50V2
from .resnet_v2 import ResNet101V2 as ResNet101V2
from .resnet_v2 import ResNet152V2 as ResNet152V2
from .vgg16 import VGG16 as VGG16
from .vgg19 import VGG19 as VGG19

# ---- other families (mobilenet, mobilenet_v2, efficientnet, densenet, inception_v3, xception):
# ---- their module and model imports go below this line, one block per family.
# isort: split
from . import densenet as densenet
from . import efficientnet as efficientnet
from . import inception_v3 as inception_v3
from . import mobilenet as mobilenet
from . import mobilenet_v2 as mobilenet_v2
from . import xception as xception
from .densenet import DenseNet121 as DenseNet121
from .densenet import DenseNet169 as DenseNet169
from .densenet import DenseNet201 as DenseNet201
from .efficientnet import EfficientNetB0 as EfficientNetB0
from .efficientnet import EfficientNetB1 as EfficientNetB1
from .efficientnet import EfficientNetB2 as EfficientNetB2
from .efficientnet import EfficientNetB3 as EfficientNetB3
from .efficientnet import EfficientNetB4 as EfficientNetB4
from .efficientnet import EfficientNetB5 as EfficientNetB5
from .efficientnet import EfficientNetB6 as EfficientNetB6
from .efficientnet import EfficientNetB7 as EfficientNetB7
from .inception_v3 import InceptionV3 as InceptionV3
from .mobilenet import MobileNet as MobileNet
from .mobilenet_v2 import MobileNetV2 as MobileNetV2
from .xception import Xception as Xception

# ---- end of other families

__all__ = [
    "ResNet50",
    "ResNet101",
    "ResNet152",
    "ResNet50V2",
    "ResNet101V2",
    "ResNet152V2",
    "VGG16",
    "VGG19",
    "imagenet_utils",
    "resnet",
    "resnet50",
    "resnet_v2",
    "vgg16",
    "vgg19",
    # ---- other families' names go below this line
    "DenseNet121",
    "DenseNet169",
    "DenseNet201",
    "EfficientNetB0",
    "EfficientNetB1",
    "EfficientNetB2",
    "EfficientNetB3",
    "EfficientNetB4",
    "EfficientNetB5",
    "EfficientNetB6",
    "EfficientNetB7",
    "InceptionV3",
    "MobileNet",
    "MobileNetV2",
    "Xception",
    "densenet",
    "efficientnet",
    "inception_v3",
    "mobilenet",
    "mobilenet_v2",
    "xception",
    # ---- end of other families' names
]
