"""Where a subnet's channels and kernels sit inside the supernet's tensors.

Every activation of a subnet carries a *layout*: for each of its channels (in the order the
standalone model has them) the index of the supernet channel it is. A supernet tensor is indexed
by these supernet channels, so a subnet's tensor is a gather of rows (its output layout) and
columns (its input layout), with the centre of the largest kernel.

The ghost ratio s. A Ghost module of n outputs at ratio s keeps intrinsic maps 0 .. ceil(n/s)-1 of
the primary conv (the supernet's first rows: the most-trained ones, as with width) and, for each
intrinsic map i, the first s-1 of its `gmax` cheap filters (gmax = the largest s minus 1). In the
supernet's channel numbering intrinsic map i is channel i and cheap filter m of map i is channel
`init_max + i * gmax + m`. So an intrinsic map and each of its ghosts are the same filters, fed to
the same downstream weights, at every ratio: changing s adds or drops ghosts of a map but never
gives a filter another meaning. The alternative (the first ghost_ch filters of one flat cheap conv)
would hand filter j to map j // (s-1), a different map at each s, so the cheap filters could not
specialise. The standalone module's output is `cat(intrinsic, ghosts)[:n]`, so the layout is
those channel numbers in that order, cut at n.

Kernels: a k x k kernel is the centre of the largest (k_max x k_max) one, as in Once-for-All but
without its learned transform matrices (the centre crop is the simpler of the two and keeps
exact extraction a plain slice; it is the design choice, not a measured winner).

Example:
    >>> ghost_layout(n=6, ratio=3, init_max=4, gmax=3).tolist()
    [0, 1, 4, 5, 7, 8]
    >>> centre(torch.arange(25.).view(1, 1, 5, 5), 3)[0, 0, 0].tolist()
    [6.0, 7.0, 8.0]
"""

from __future__ import annotations

import math

import torch

from workbench.errors import WorkbenchError


def ghost_layout(n: int, ratio: int, init_max: int, gmax: int) -> torch.Tensor:
    """The supernet channels of a Ghost module's n outputs at ratio `ratio` (see the module docstring).

    Raises:
        WorkbenchError: the module needs more intrinsic maps or ghosts than the supernet holds.
    """
    init = math.ceil(n / ratio)
    if init > init_max or ratio - 1 > gmax:
        raise WorkbenchError(f"subnet outside the supernet: a Ghost module of {n} maps at ratio {ratio} needs "
                             f"{init} intrinsic maps and {ratio - 1} ghosts each; the supernet holds {init_max} "
                             f"and {gmax}")
    ghosts = [init_max + i * gmax + m for i in range(init) for m in range(ratio - 1)]
    return torch.tensor(list(range(init)) + ghosts, dtype=torch.long)[:n]


def cheap_rows(init: int, ratio: int, gmax: int) -> torch.Tensor:
    """The supernet cheap filters (numbered `i * gmax + m`) of a module with `init` intrinsic
    maps at ratio `ratio`, in the standalone grouped conv's order (group i holds s-1 filters).

    Example:
        >>> cheap_rows(2, 3, 4).tolist()
        [0, 1, 4, 5]
    """
    return torch.tensor([i * gmax + m for i in range(init) for m in range(ratio - 1)], dtype=torch.long)


def centre(weight: torch.Tensor, kernel: int) -> torch.Tensor:
    """The centre `kernel` x `kernel` window of a conv weight's last two dimensions.

    Raises:
        WorkbenchError: `kernel` is larger than the weight's or of the other parity.
    """
    size = weight.shape[-1]
    if kernel > size or (size - kernel) % 2:
        raise WorkbenchError(f"subnet outside the supernet: kernel {kernel} does not fit the supernet's {size}")
    start = (size - kernel) // 2
    return weight[..., start:start + kernel, start:start + kernel]


def gather(tensor: torch.Tensor, dim: int, index: torch.Tensor, what: str) -> torch.Tensor:
    """`tensor.index_select(dim, index)`, refused in one line when the index is past the supernet's size.

    Raises:
        WorkbenchError: naming `what` and both sizes.
    """
    if len(index) and int(index.max()) >= tensor.shape[dim]:
        raise WorkbenchError(f"subnet outside the supernet: {what} needs channel {int(index.max())}, the supernet "
                             f"holds {tensor.shape[dim]}")
    return tensor.index_select(dim, index.to(tensor.device))
