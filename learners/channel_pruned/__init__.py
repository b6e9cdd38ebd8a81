"""Channel pruning (``--learner channel``): LASSO channel selection and reconstruction, L1, FPGM."""
