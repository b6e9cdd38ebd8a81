"""LeNet at scikit-learn's digits: the embedded default job."""

from nets.lenet import build_lenet
from nets.model_helper import MODEL_HELPERS, ModelHelper, TrainDefaults


@MODEL_HELPERS.register("lenet_at_digits")
class LenetAtDigits(ModelHelper):
    name = "lenet_at_digits"
    default_dataset = "digits"

    @property
    def model_name(self):
        return "tiny_lenet" if self.config.tiny else "lenet"

    def build_model(self, input_shape, nb_classes):
        if self.config.tiny:
            return build_lenet(input_shape, nb_classes, filters=(4, 8), units=16, name="tiny_lenet")
        return build_lenet(input_shape, nb_classes)

    def train_defaults(self):
        return TrainDefaults(epochs=40, learning_rate=5e-2, reference_batch_size=128, momentum=0.9,
                             weight_decay=5e-4, decay_boundaries=(20, 30, 35),
                             decay_rates=(1.0, 0.1, 0.01, 0.001), batch_size=64,
                             batch_size_eval=100)
