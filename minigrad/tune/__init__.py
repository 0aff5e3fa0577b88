"""Hyper-parameter search over the CIFAR-10 job: trials, workers, results, plots, the best run."""
