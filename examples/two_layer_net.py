# %% [markdown]
# # The two-layer network workbook, with minigrad
#
# The CS231n / ECE 239AS two-layer-net workbook (`shared/seed/two_layer_net_workbook.txt`)
# run on minigrad. Open it as a notebook (VS Code, or Jupytext) or run it as a script:
#
#     python examples/two_layer_net.py
#
# Figures are saved as PNG files in `$MINIGRAD_EXAMPLE_OUT` (default `runs/example`) and,
# in a notebook, also shown. CIFAR-10 is found as `minigrad.data.get_cifar10_data` finds it
# (`$MINIGRAD_CIFAR10`, the per-user cache, or a download). `MINIGRAD_EXAMPLE_FAST=1`
# shrinks the CIFAR-10 part (2000 training images, 200 iterations per net) for a quick check.
#
# The toy cells are the workbook's, with only the imports changed and `plt.show()` replaced
# by `show(name)`, which saves the figure (they also live verbatim in
# `tests/workbook/toy_cells.py`, the tests' oracle for the workbook's numbers, on purpose: a
# reader follows this file, the tests need the exact text; keep the two in step). The
# CIFAR-10 cells follow the workbook; they load
# the data as float32 (twice as fast, same accuracy) and seed NumPy before each net.

# ruff: noqa: E402, E731, NPY002
# (Cells import where they are used, the workbook assigns a lambda and seeds NumPy's global
# generator, which TwoLayerNet draws its initial weights from, as the workbook's does.)

# %% Setup: where figures go, notebook or script, full or fast
import os
import sys
from pathlib import Path

import matplotlib

IN_NOTEBOOK = "ipykernel" in sys.modules
if not IN_NOTEBOOK:
    matplotlib.use("Agg")  # headless: never open a window

from minigrad.files.atomic import write_figure_atomic

OUT = Path(os.environ.get("MINIGRAD_EXAMPLE_OUT", "runs/example"))
OUT.mkdir(parents=True, exist_ok=True)
FAST = os.environ.get("MINIGRAD_EXAMPLE_FAST", "") not in ("", "0")


def show(name: str) -> None:
    """Save the current figure as OUT/<name>.png; show it too in a notebook."""
    import matplotlib.pyplot as plt

    figure = plt.gcf()
    path = write_figure_atomic(OUT / f"{name}.png", figure, dpi=100)
    print(f"[saved {path}]")
    if IN_NOTEBOOK:
        plt.show()
    else:
        plt.close(figure)


# %% In [155]
import random  # noqa: F401 (the workbook imports it)

import matplotlib.pyplot as plt
import numpy as np

from minigrad.data import get_cifar10_data


def rel_error(x, y):
    """ returns relative error """
    return np.max(np.abs(x - y) / (np.maximum(1e-8, np.abs(x) + np.abs(y))))


# %% [markdown]
# ## Toy example
#
# Before loading CIFAR-10, there will be a toy example to test your implementation of the
# forward and backward pass.

# %% In [156]
from minigrad.models import TwoLayerNet

# %% In [157]
# Create a small net and some toy data to check your implementations.
# Note that we set the random seed for repeatable experiments.

input_size = 4
hidden_size = 10
num_classes = 3
num_inputs = 5

def init_toy_model():
    np.random.seed(0)
    return TwoLayerNet(input_size, hidden_size, num_classes, std=1e-1)

def init_toy_data():
    np.random.seed(1)
    X = 10 * np.random.randn(num_inputs, input_size)
    y = np.array([0, 1, 2, 2, 1])
    return X, y

net = init_toy_model()
X, y = init_toy_data()

# %% In [158]: forward pass scores
# Note, there is a statement if y is None: return scores, which is why
# the following call will calculate the scores.
scores = net.loss(X)
print('Your scores:')
print(scores)
print()
print('correct scores:')
correct_scores = np.asarray([
    [-1.07260209,  0.05083871, -0.87253915],
    [-2.02778743, -0.10832494, -1.52641362],
    [-0.74225908,  0.15259725, -0.39578548],
    [-0.38172726,  0.10835902, -0.17328274],
    [-0.64417314, -0.18886813, -0.41106892]])
print(correct_scores)
print()

# The difference should be very small. We get < 1e-7
print('Difference between your scores and correct scores:')
print(np.sum(np.abs(scores - correct_scores)))

# %% In [159]: forward pass loss
loss, _ = net.loss(X, y, reg=0.05)
correct_loss = 1.071696123862817

# should be very small, we get < 1e-12
print("Loss:", loss)
print('Difference between your loss and correct loss:')
print(np.sum(np.abs(loss - correct_loss)))

# %% In [160]: backward pass
from minigrad import eval_numerical_gradient

# Use numeric gradient checking to check your implementation of the backward pass.
# If your implementation is correct, the difference between the numeric and
# analytic gradients should be less than 1e-8 for each of W1, W2, b1,
# and b2.

loss, grads = net.loss(X, y, reg=0.05)

# these should all be less than 1e-8 or so
for param_name in grads:
    f = lambda W: net.loss(X, y, reg=0.05)[0]
    param_grad_num = eval_numerical_gradient(f, net.params[param_name],
        verbose=False)
    print('{} max relative error: {}'.format(param_name, rel_error(param_grad_num, grads[param_name])))  # noqa: E501, UP032 (verbatim)

# %% In [161]: training the network
net = init_toy_model()
stats = net.train(X, y, X, y,
                   learning_rate=1e-1, reg=5e-6,
                   num_iters=100, verbose=False)

print('Final training loss: ', stats['loss_history'][-1])

# plot the loss history
plt.plot(stats['loss_history'])
plt.xlabel('iteration')
plt.ylabel('training loss')
plt.title('Training Loss history')
show('toy_loss_history')

# %% [markdown]
# ## Classify CIFAR-10
#
# `minigrad.data.get_cifar10_data` is the workbook's `get_CIFAR10_data`: the same split, the mean
# image of the training split subtracted, images flattened to rows.

# %% Invoke the above function to get our data.
sizes = dict(num_training=2000, num_validation=200, num_test=200) if FAST else {}
X_train, y_train, X_val, y_val, X_test, y_test = get_cifar10_data(**sizes, dtype=np.float32)
print('Train data shape: ', X_train.shape)
print('Train labels shape: ', y_train.shape)
print('Validation data shape: ', X_val.shape)
print('Validation labels shape: ', y_val.shape)
print('Test data shape: ', X_test.shape)
print('Test labels shape: ', y_test.shape)

# %% [markdown]
# ## Running SGD
#
# If your implementation is correct, you should see a validation accuracy of around 28-29%.

# %% In [187]
input_size = 32 * 32 * 3
hidden_size = 50
num_classes = 10
np.random.seed(0)
net = TwoLayerNet(input_size, hidden_size, num_classes, dtype=np.float32)

# Train the network
stats = net.train(X_train, y_train, X_val, y_val,
                   num_iters=200 if FAST else 1000, batch_size=200,
                   learning_rate=1e-4, learning_rate_decay=0.95,
                   reg=0.25, verbose=True)

# Predict on the validation set
val_acc = (net.predict(X_val) == y_val).mean()
print('Validation accuracy: ', val_acc)

# Save this net as the variable subopt_net for later comparison.
subopt_net = net

# %% In [168]
print(stats['train_acc_history'])

# %% In [186]: plot the loss function and train / validation accuracies
plt.figure(1)
plt.plot(stats['train_acc_history'])
plt.plot(stats['val_acc_history'])
plt.xlabel('epoch number')
plt.ylabel('accuracy')
plt.legend(['training accuracy', 'validation accuracy'])
show('subopt_accuracy_history')

plt.figure(2)
plt.plot(stats['loss_history'])
plt.xlabel('iteration number')
plt.ylabel('training loss')
show('subopt_loss_history')

# %% [markdown]
# The training loss is still falling when training stops and the learning rate is low:
# train longer, with a larger learning rate.
#
# ## Optimize the neural network
#
# The workbook's best net keeps `hidden_size = 50` and trains 12000 iterations at
# learning rate 4e-4 with reg 0.3 (`minigrad train` runs exactly this and writes a run
# folder with the same plots; `minigrad train --preset suboptimal` the net above).

# %% In [196]
np.random.seed(0)
best_net = TwoLayerNet(input_size, hidden_size, num_classes, dtype=np.float32)

stats = best_net.train(X_train, y_train, X_val, y_val,
                       num_iters=200 if FAST else 12000, batch_size=200,
                       learning_rate=4e-4, learning_rate_decay=0.95,
                       reg=0.3, verbose=True)

val_acc = (best_net.predict(X_val) == y_val).mean()
print('Validation accuracy: ', val_acc)

plt.figure(3)
plt.plot(stats['train_acc_history'])
plt.plot(stats['val_acc_history'])
plt.xlabel('epoch number')
plt.ylabel('accuracy')
plt.legend(['training accuracy', 'validation accuracy'])
show('best_accuracy_history')

# %% In [197]: visualize the weights of the network
from minigrad.experiment.plots import visualize_grid


def show_net_weights(net, name):
    W1 = net.params['W1']
    W1 = W1.T.reshape(32, 32, 3, -1).transpose(3, 0, 1, 2)
    plt.imshow(visualize_grid(W1, padding=3).astype('uint8'))
    plt.gca().axis('off')
    show(name)

show_net_weights(subopt_net, 'subopt_weights')
show_net_weights(best_net, 'best_weights')

# %% In [198]: evaluate on test set
test_acc = (best_net.predict(X_test) == y_test).mean()
print('Test accuracy: ', test_acc)
