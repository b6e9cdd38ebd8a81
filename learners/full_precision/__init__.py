"""Full-precision learner."""
