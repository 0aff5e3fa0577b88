"""Model configurations: functions that assemble layers, and the workbook's TwoLayerNet."""

from minigrad.models.fully_connected import ACTIVATIONS, NORMALIZATIONS, fully_connected_net
from minigrad.models.parameter_view import ParameterView
from minigrad.models.two_layer_net import WORKBOOK_PARAMETER_NAMES, TwoLayerNet, two_layer_net

__all__ = [
    "ACTIVATIONS",
    "NORMALIZATIONS",
    "ParameterView",
    "TwoLayerNet",
    "WORKBOOK_PARAMETER_NAMES",
    "fully_connected_net",
    "two_layer_net",
]
