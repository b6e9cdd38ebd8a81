"""Stand-alone command-line tools: data and model conversion, benchmarks."""
