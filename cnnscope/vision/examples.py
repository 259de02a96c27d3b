"""The lecture's worked examples as text (numpy-free, so that --help stays fast)."""

# Figure 9.1: a 5x5 binary image and a 3x3 "X" kernel; the valid convolution starts with 4.
LECTURE_IMAGE = "1 1 1 0 0; 0 1 1 1 0; 0 0 1 1 1; 0 0 1 1 0; 0 1 1 0 0"
LECTURE_KERNEL = "1 0 1; 0 1 0; 1 0 1"
# A 4x4 matrix for 2x2 pooling with distinct winners.
POOL_EXAMPLE = "1 1 2 4; 5 6 7 8; 3 2 1 0; 1 2 3 4"
