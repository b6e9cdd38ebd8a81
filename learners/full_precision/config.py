"""Registration of full-precision training (``--learner full-prec``); it has no settings of its own."""

from learners.registry import register_learner

register_learner("full-prec", "learners.full_precision.learner:FullPrecisionLearner",
                 "trains the network with its full schedule: the pre-trained model (the teacher) "
                 "every other learner starts from")
