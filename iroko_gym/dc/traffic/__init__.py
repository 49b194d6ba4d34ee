"""Traffic for the data-center envs: flow patterns, workloads and the goben generator wrapper."""
