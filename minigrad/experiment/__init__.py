"""The CIFAR-10 job as a Python API: settings, presets, training runs, run folders and plots."""
