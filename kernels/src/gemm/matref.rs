//! [`MatRef`]: a read-only view of a row-major matrix, possibly transposed, for the GEMM core.
//!
//! A view maps logical element `(i, j)` to `data[i·row_stride + j·col_stride]`. Transposing a
//! view swaps the strides, so `Aᵀ·B` and `A·Bᵀ` read their operands in place: the packing
//! routines follow the strides and nothing is materialized.

use crate::error::{KernelError, Result};

/// A read-only matrix view over a slice: element `(i, j)` is
/// `data[i·row_stride + j·col_stride]`. Built row-major with [`MatRef::new`], transposed
/// with [`MatRef::t`]. Every in-range element index is checked to lie inside `data` when the
/// view is built, so reading a view never goes out of bounds.
#[derive(Debug, Clone, Copy)]
pub struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// A row-major `rows × cols` view of `data` (`data.len()` must be `rows·cols`).
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Result<Self> {
        let expected = rows
            .checked_mul(cols)
            .ok_or_else(|| KernelError::InvalidArgument {
                op: "MatRef::new",
                detail: format!("{rows} × {cols} overflows usize"),
            })?;
        if data.len() != expected {
            return Err(KernelError::DataLength {
                shape: vec![rows, cols],
                expected,
                len: data.len(),
            });
        }
        Ok(Self {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        })
    }

    /// The transposed view (`cols × rows`), reading the same data.
    pub fn t(self) -> Self {
        Self {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    /// Logical row count.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Logical column count.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Distance in `data` between logically consecutive rows.
    pub fn row_stride(&self) -> usize {
        self.row_stride
    }

    /// Distance in `data` between logically consecutive columns.
    pub fn col_stride(&self) -> usize {
        self.col_stride
    }

    /// The underlying slice.
    pub fn data(&self) -> &'a [f32] {
        self.data
    }

    /// Element `(i, j)`. Panics if out of range (callers index within `rows × cols`).
    #[inline(always)]
    pub fn at(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.row_stride + j * self.col_stride]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_swaps_indices() {
        let d: Vec<f32> = (0..6).map(|v| v as f32).collect();
        let a = MatRef::new(&d, 2, 3).unwrap();
        let at = a.t();
        assert_eq!((at.rows(), at.cols()), (3, 2));
        for i in 0..2 {
            for j in 0..3 {
                assert_eq!(a.at(i, j), at.at(j, i));
            }
        }
    }

    #[test]
    fn wrong_length_is_an_error() {
        assert!(matches!(
            MatRef::new(&[0.0; 5], 2, 3),
            Err(KernelError::DataLength {
                expected: 6,
                len: 5,
                ..
            })
        ));
    }
}
