"""Hyper-parameter search over the CIFAR-10 job: trial sampling, workers, results, plots."""
