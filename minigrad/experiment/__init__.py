"""The CIFAR-10 job as a Python API: settings, training into run folders, re-evaluation, plots."""
