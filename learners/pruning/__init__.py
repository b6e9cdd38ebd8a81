"""Channel pruning: the channel dependency graph, pruning plans and model surgery.

``build_graph(model)`` finds the groups of channels that must be cut together (in
``analysed_model(model)``: the model with its functional and Sequential sub-models inlined); a
``PruningPlan`` lists the channels to keep per group (and predicts the pruned model's
parameters and MACs); ``apply_plan(model, plan)`` rebuilds a physically smaller model.
"""

from learners.pruning.graph import (
    LAYER_HANDLERS,
    ChannelGroup,
    DependencyGraph,
    GraphBuilder,
    LayerHandler,
    LayerMasks,
    NodeView,
    PassThroughHandler,
    PerChannelHandler,
    analysed_model,
    build_graph,
    handler_for,
    register_handler,
)
from learners.pruning.plan import PruningPlan, cover_segments, keep_count, uniform_plan
from learners.pruning.surgery import apply_plan

__all__ = [
    "LAYER_HANDLERS",
    "ChannelGroup",
    "DependencyGraph",
    "GraphBuilder",
    "LayerHandler",
    "LayerMasks",
    "NodeView",
    "PassThroughHandler",
    "PerChannelHandler",
    "PruningPlan",
    "analysed_model",
    "apply_plan",
    "build_graph",
    "cover_segments",
    "handler_for",
    "keep_count",
    "register_handler",
    "uniform_plan",
]
