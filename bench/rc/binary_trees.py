"""binary_trees.py -- CPython's side of rc/binary-trees (bench/rc/bt.c is ours).

The same shape as bt.c: 2-reference nodes (a class with __slots__, tracked
by CPython's collector like rcgc's nodes), parent allocated first, default
automatic collection. Prints the same check lines, then 'SAMPLE seconds=...'.
"""
import sys
import time


class Node:
    __slots__ = ("left", "right")


def bottom_up_tree(depth):
    n = Node()
    if depth > 0:
        n.left = bottom_up_tree(depth - 1)
        n.right = bottom_up_tree(depth - 1)
    else:
        n.left = None
    return n


def item_check(n):
    left = n.left
    return 1 if left is None else 1 + item_check(left) + item_check(n.right)


def main(n):
    min_depth = 4
    max_depth = max(min_depth + 2, n)
    t0 = time.perf_counter_ns()

    tree = bottom_up_tree(max_depth + 1)
    print(f"stretch tree of depth {max_depth + 1}\t check: {item_check(tree)}")
    tree = None

    long_lived = bottom_up_tree(max_depth)
    for depth in range(min_depth, max_depth + 1, 2):
        iterations = 1 << (max_depth - depth + min_depth)
        check = 0
        for _ in range(iterations):
            tree = bottom_up_tree(depth)
            check += item_check(tree)
            tree = None
        print(f"{iterations}\t trees of depth {depth}\t check: {check}")
    print(f"long lived tree of depth {max_depth}\t check: {item_check(long_lived)}")
    long_lived = None
    print(f"SAMPLE seconds={(time.perf_counter_ns() - t0) / 1e9:.4f}", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 16)
