"""Model configurations: functions that assemble layers, and the workbook's TwoLayerNet."""

from minigrad.models.parameter_view import ParameterView
from minigrad.models.two_layer_net import WORKBOOK_PARAMETER_NAMES, TwoLayerNet, two_layer_net

__all__ = ["TwoLayerNet", "two_layer_net", "ParameterView", "WORKBOOK_PARAMETER_NAMES"]
