"""The fixed block grid, in one place.

Rows are cut into blocks of ``block_size``; group g of ``n_groups`` owns the
consecutive blocks ``group_blocks(g, ...)``. Every parallel kernel walks the
grid with these two functions, so every pass splits the data the same way.
"""

from fastem._kernels._jit import kernel


@kernel()
def group_blocks(group, n_groups, n_samples, block_size):
    """``range`` arguments (first, stop) of the blocks that group ``group`` owns."""
    n_blocks = (n_samples + block_size - 1) // block_size
    return group * n_blocks // n_groups, (group + 1) * n_blocks // n_groups


@kernel()
def block_rows(block, block_size, n_samples):
    """(start, n_rows) of block ``block``: the last block may be partial."""
    start = block * block_size
    return start, min(block_size, n_samples - start)
