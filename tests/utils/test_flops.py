"""utils.flops against hand-computed MACs and parameter counts."""

import keras
import pytest
from keras import layers

from nets import NetConfig, create_model_helper
from utils.flops import LayerCost, format_table, layer_costs, total_flops, total_macs, total_params


def _single_layer_model(input_shape, layer):
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, layer(inputs))


def _cost(model, name):
    return next(cost for cost in layer_costs(model) if cost.name == name)


def test_conv2d_same_without_bias():
    model = _single_layer_model((32, 32, 16), layers.Conv2D(32, 3, padding="same", use_bias=False,
                                                            name="conv"))
    cost = _cost(model, "conv")
    assert cost == LayerCost("conv", "Conv2D", params=3 * 3 * 16 * 32,
                             macs=32 * 32 * 3 * 3 * 16 * 32)
    assert cost.flops == 2 * 32 * 32 * 3 * 3 * 16 * 32


def test_strided_valid_grouped_conv2d_with_bias():
    conv = layers.Conv2D(24, 3, strides=2, padding="valid", groups=4, name="conv")
    model = _single_layer_model((17, 17, 8), conv)
    # Output 8x8 ((17 - 3) // 2 + 1); each output channel sees 8 / 4 = 2 input channels.
    assert _cost(model, "conv") == LayerCost("conv", "Conv2D", params=3 * 3 * 2 * 24 + 24,
                                             macs=8 * 8 * 3 * 3 * 2 * 24)


def test_depthwise_conv2d_with_depth_multiplier():
    conv = layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2,
                                  use_bias=False, name="dw")
    model = _single_layer_model((32, 32, 16), conv)
    # Output 16x16x32: every one of the 16 * 2 output channels applies one 3x3 filter.
    assert _cost(model, "dw") == LayerCost("dw", "DepthwiseConv2D", params=3 * 3 * 16 * 2,
                                           macs=16 * 16 * 3 * 3 * 16 * 2)


def test_separable_conv2d():
    conv = layers.SeparableConv2D(64, 3, padding="same", use_bias=False, name="sep")
    model = _single_layer_model((10, 10, 32), conv)
    assert _cost(model, "sep") == LayerCost("sep", "SeparableConv2D",
                                            params=3 * 3 * 32 + 32 * 64,
                                            macs=10 * 10 * 3 * 3 * 32 + 10 * 10 * 32 * 64)


def test_transposed_conv2d():
    conv = layers.Conv2DTranspose(8, 3, strides=2, padding="same", use_bias=False, name="up")
    model = _single_layer_model((5, 5, 4), conv)
    # Each of the 5*5 input positions scatters a 3x3x8 patch per input channel.
    assert _cost(model, "up").macs == 5 * 5 * 3 * 3 * 4 * 8


def test_dense_on_vectors_and_sequences():
    assert _cost(_single_layer_model((100,), layers.Dense(10, name="fc")), "fc") == LayerCost(
        "fc", "Dense", params=100 * 10 + 10, macs=100 * 10)
    assert _cost(_single_layer_model((7, 100), layers.Dense(10, name="fc")), "fc").macs == \
        7 * 100 * 10


def test_batch_norm_pool_activation_add_cost_no_macs():
    inputs = keras.Input((8, 8, 6))
    x = layers.BatchNormalization(name="bn")(inputs)
    x = layers.ReLU(name="relu")(x)
    x = layers.Add(name="add")([x, inputs])
    x = layers.MaxPooling2D(name="pool")(x)
    model = keras.Model(inputs, layers.GlobalAveragePooling2D(name="gap")(x))
    costs = {cost.name: cost for cost in layer_costs(model)}
    assert costs["bn"] == LayerCost("bn", "BatchNormalization", params=4 * 6, macs=0)
    assert all(costs[name].macs == 0 and costs[name].params == 0
               for name in ("relu", "add", "pool", "gap"))


def _resnet_cifar_macs(blocks_per_stage, widths=(16, 32, 64), size=32, nb_classes=10):
    """Conv/dense MACs of a v1 CIFAR ResNet with projection shortcuts: H*W*k*k*Cin*Cout each."""
    macs = size * size * 3 * 3 * 3 * widths[0]  # stem
    in_channels = widths[0]
    for stage, width in enumerate(widths):
        if stage:
            size //= 2
        for block in range(blocks_per_stage):
            macs += size * size * 3 * 3 * in_channels * width  # conv1 (strided in block 1)
            macs += size * size * 3 * 3 * width * width  # conv2
            if in_channels != width:
                macs += size * size * in_channels * width  # 1x1 projection
            in_channels = width
    return macs + widths[-1] * nb_classes


def test_resnet20_totals():
    model = create_model_helper("resnet_at_cifar10", NetConfig()).build_model((32, 32, 3), 10)
    # stem 32*32*27*16 = 442,368; stage 1: 6 convs of 32*32*9*16*16 = 14,155,776;
    # stage 2 (16x16): (9*16*32 + 9*32*32 + 16*32 + 4*9*32*32) * 256 = 13,107,200;
    # stage 3 (8x8): (9*32*64 + 9*64*64 + 32*64 + 4*9*64*64) * 64 = 13,107,200; logits 640.
    assert _resnet_cifar_macs(3) == 442_368 + 14_155_776 + 13_107_200 + 13_107_200 + 640
    assert total_macs(model) == 40_813_184
    assert total_flops(model) == 2 * 40_813_184
    assert total_params(model) == model.count_params() == 274_042


def test_resnet56_totals():
    model = create_model_helper("resnet_at_cifar10", NetConfig(resnet_size=56)).build_model(
        (32, 32, 3), 10)
    assert total_macs(model) == _resnet_cifar_macs(9)  # ~126M, the published "125M"


def test_lenet_at_digits_totals():
    model = create_model_helper("lenet_at_digits", NetConfig()).build_model((8, 8, 1), 10)
    # conv1 8*8*25*1*32 = 51,200; conv2 on 4x4: 4*4*25*32*64 = 819,200;
    # fc3 (2*2*64)*256 = 65,536; logits 256*10 = 2,560.
    assert total_macs(model) == 51_200 + 819_200 + 65_536 + 2_560
    assert total_params(model) == (25 * 32 + 32) + (25 * 32 * 64 + 64) + (256 * 256 + 256) \
        + (256 * 10 + 10)


def test_mobilenet_v1_totals_match_paper():
    model = create_model_helper("mobilenet_at_ilsvrc12", NetConfig()).build_model(
        (224, 224, 3), 1001)
    size = 112
    macs = size * size * 3 * 3 * 3 * 32  # stem, stride 2
    in_channels = 32
    blocks = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), *[(512, 1)] * 5,
              (1024, 2), (1024, 1)]
    for channels, strides in blocks:
        size //= strides
        macs += size * size * 3 * 3 * in_channels + size * size * in_channels * channels
        in_channels = channels
    macs += 1024 * 1001
    assert total_macs(model) == macs
    assert round(macs / 1e6) == 569  # the paper's "569 million mult-adds"


def test_nested_models_are_expanded():
    inner = _single_layer_model((4,), layers.Dense(3, name="fc"))
    inner.name = "inner"
    inputs = keras.Input((4,))
    model = keras.Model(inputs, layers.Dense(2, name="out")(inner(inputs)))
    assert [cost.name for cost in layer_costs(model)][-2:] == ["inner/fc", "out"]
    assert total_macs(model) == 4 * 3 + 3 * 2


def test_unknown_spatial_size_is_rejected():
    model = _single_layer_model((None, None, 3), layers.Conv2D(4, 3, name="conv"))
    with pytest.raises(ValueError, match="Expected a static input shape for layer 'conv'"):
        total_macs(model)


def test_format_table_lists_costly_layers_and_total():
    model = create_model_helper("lenet_at_digits", NetConfig()).build_model((8, 8, 1), 10)
    lines = format_table(layer_costs(model)).splitlines()
    assert [line.split()[0] for line in lines[2:-2]] == ["conv1", "conv2", "fc3", "logits"]
    assert lines[-1].split() == ["total", "120,458", "938,496"]
