//! Integration tests of pinpoint-kernels.
