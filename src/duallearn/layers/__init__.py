"""Layers (Keras 3 names, arguments and defaults)."""

from ._activations import ELU as ELU
from ._activations import LeakyReLU as LeakyReLU
from ._activations import PReLU as PReLU
from ._activations import ReLU as ReLU
from ._activations import Softmax as Softmax
from ._attention import Attention as Attention
from ._attention import MultiHeadAttention as MultiHeadAttention
from ._conv import Conv1D as Conv1D
from ._conv import Conv1DTranspose as Conv1DTranspose
from ._conv import Conv2D as Conv2D
from ._conv import Conv2DTranspose as Conv2DTranspose
from ._conv import Conv3D as Conv3D
from ._conv import Conv3DTranspose as Conv3DTranspose
from ._conv import DepthwiseConv2D as DepthwiseConv2D
from ._conv import SeparableConv2D as SeparableConv2D
from ._core import Activation as Activation
from ._core import Dense as Dense
from ._custom import Lambda as Lambda
from ._custom import OpLayer as OpLayer
from ._custom import TFModule as TFModule
from ._custom import TorchModule as TorchModule
from ._custom import TorchModuleWrapper as TorchModuleWrapper
from ._embedding import Embedding as Embedding
from ._input import Input as Input
from ._input import InputLayer as InputLayer
from ._input import SymbolicTensor as SymbolicTensor
from ._layer import REGISTRY as REGISTRY
from ._layer import Layer as Layer
from ._layer import Weight as Weight
from ._merge_functions import add as add
from ._merge_functions import average as average
from ._merge_functions import concatenate as concatenate
from ._merge_functions import dot as dot
from ._merge_functions import maximum as maximum
from ._merge_functions import minimum as minimum
from ._merge_functions import multiply as multiply
from ._merge_functions import subtract as subtract
from ._merging import Add as Add
from ._merging import Average as Average
from ._merging import Concatenate as Concatenate
from ._merging import Dot as Dot
from ._merging import Maximum as Maximum
from ._merging import Minimum as Minimum
from ._merging import Multiply as Multiply
from ._merging import Subtract as Subtract
from ._normalization import BatchNormalization as BatchNormalization
from ._normalization import GroupNormalization as GroupNormalization
from ._normalization import LayerNormalization as LayerNormalization
from ._normalization import UnitNormalization as UnitNormalization
from ._pooling import AveragePooling1D as AveragePooling1D
from ._pooling import AveragePooling1D as AvgPool1D
from ._pooling import AveragePooling2D as AveragePooling2D
from ._pooling import AveragePooling2D as AvgPool2D
from ._pooling import AveragePooling3D as AveragePooling3D
from ._pooling import AveragePooling3D as AvgPool3D
from ._pooling import GlobalAveragePooling1D as GlobalAveragePooling1D
from ._pooling import GlobalAveragePooling1D as GlobalAvgPool1D
from ._pooling import GlobalAveragePooling2D as GlobalAveragePooling2D
from ._pooling import GlobalAveragePooling2D as GlobalAvgPool2D
from ._pooling import GlobalAveragePooling3D as GlobalAveragePooling3D
from ._pooling import GlobalAveragePooling3D as GlobalAvgPool3D
from ._pooling import GlobalMaxPooling1D as GlobalMaxPool1D
from ._pooling import GlobalMaxPooling1D as GlobalMaxPooling1D
from ._pooling import GlobalMaxPooling2D as GlobalMaxPool2D
from ._pooling import GlobalMaxPooling2D as GlobalMaxPooling2D
from ._pooling import GlobalMaxPooling3D as GlobalMaxPool3D
from ._pooling import GlobalMaxPooling3D as GlobalMaxPooling3D
from ._pooling import MaxPooling1D as MaxPool1D
from ._pooling import MaxPooling1D as MaxPooling1D
from ._pooling import MaxPooling2D as MaxPool2D
from ._pooling import MaxPooling2D as MaxPooling2D
from ._pooling import MaxPooling3D as MaxPool3D
from ._pooling import MaxPooling3D as MaxPooling3D
from ._preprocessing_host import CategoryEncoding as CategoryEncoding
from ._preprocessing_host import Discretization as Discretization
from ._preprocessing_host import Hashing as Hashing
from ._preprocessing_image import CenterCrop as CenterCrop
from ._preprocessing_image import Normalization as Normalization
from ._preprocessing_image import RandomBrightness as RandomBrightness
from ._preprocessing_image import RandomContrast as RandomContrast
from ._preprocessing_image import RandomCrop as RandomCrop
from ._preprocessing_image import RandomFlip as RandomFlip
from ._preprocessing_image import RandomRotation as RandomRotation
from ._preprocessing_image import RandomTranslation as RandomTranslation
from ._preprocessing_image import RandomZoom as RandomZoom
from ._preprocessing_image import Rescaling as Rescaling
from ._preprocessing_image import Resizing as Resizing
from ._preprocessing_lookup import IntegerLookup as IntegerLookup
from ._preprocessing_lookup import StringLookup as StringLookup
from ._preprocessing_text import TextVectorization as TextVectorization
from ._recurrent import GRU as GRU
from ._recurrent import LSTM as LSTM
from ._recurrent import Bidirectional as Bidirectional
from ._recurrent import SimpleRNN as SimpleRNN
from ._regularization import Dropout as Dropout
from ._regularization import GaussianNoise as GaussianNoise
from ._regularization import SpatialDropout1D as SpatialDropout1D
from ._regularization import SpatialDropout2D as SpatialDropout2D
from ._reshaping import Cropping1D as Cropping1D
from ._reshaping import Cropping2D as Cropping2D
from ._reshaping import Flatten as Flatten
from ._reshaping import Permute as Permute
from ._reshaping import RepeatVector as RepeatVector
from ._reshaping import Reshape as Reshape
from ._reshaping import UpSampling1D as UpSampling1D
from ._reshaping import UpSampling2D as UpSampling2D
from ._reshaping import ZeroPadding1D as ZeroPadding1D
from ._reshaping import ZeroPadding2D as ZeroPadding2D
from ._time_distributed import TimeDistributed as TimeDistributed

__all__ = [
    "ELU",
    "LeakyReLU",
    "PReLU",
    "ReLU",
    "Softmax",
    "TimeDistributed",
    "Attention",
    "MultiHeadAttention",
    "Add",
    "Average",
    "Concatenate",
    "Dot",
    "Lambda",
    "Maximum",
    "Minimum",
    "Multiply",
    "OpLayer",
    "Subtract",
    "TFModule",
    "TorchModule",
    "TorchModuleWrapper",
    "Activation",
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "BatchNormalization",
    "Bidirectional",
    "Conv1D",
    "Conv1DTranspose",
    "Conv2D",
    "Conv2DTranspose",
    "Conv3D",
    "Conv3DTranspose",
    "Cropping1D",
    "Cropping2D",
    "Dense",
    "DepthwiseConv2D",
    "Dropout",
    "Embedding",
    "Flatten",
    "GRU",
    "GaussianNoise",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAveragePooling3D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPooling3D",
    "GroupNormalization",
    "Input",
    "InputLayer",
    "LSTM",
    "Layer",
    "LayerNormalization",
    "UnitNormalization",
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
    "AvgPool1D",
    "AvgPool2D",
    "AvgPool3D",
    "GlobalAvgPool1D",
    "GlobalAvgPool2D",
    "GlobalAvgPool3D",
    "GlobalMaxPool1D",
    "GlobalMaxPool2D",
    "GlobalMaxPool3D",
    "MaxPool1D",
    "MaxPool2D",
    "MaxPool3D",
    "Permute",
    "RepeatVector",
    "Reshape",
    "SeparableConv2D",
    "SimpleRNN",
    "SpatialDropout1D",
    "SpatialDropout2D",
    "SymbolicTensor",
    "UpSampling1D",
    "UpSampling2D",
    "Weight",
    "ZeroPadding1D",
    "ZeroPadding2D",
    "CategoryEncoding",
    "Discretization",
    "Hashing",
    "IntegerLookup",
    "StringLookup",
    "TextVectorization",
    "CenterCrop",
    "Normalization",
    "RandomBrightness",
    "RandomContrast",
    "RandomCrop",
    "RandomFlip",
    "RandomRotation",
    "RandomTranslation",
    "RandomZoom",
    "Rescaling",
    "Resizing",
    "add",
    "average",
    "concatenate",
    "dot",
    "maximum",
    "minimum",
    "multiply",
    "subtract",
]
