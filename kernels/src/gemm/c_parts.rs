//! Disjoint parts of the output matrix C that GEMM tasks write in parallel: bands of whole
//! rows (a row split) or column ranges of every row (a column split). A column range of
//! several rows is not one contiguous slice, so a part is a raw view; it is made only from
//! an exclusive borrow of C, the parts of one split never overlap (asserted), and every
//! pointer or slice a part hands out lies inside it (asserted).

use std::marker::PhantomData;
use std::ops::Range;

/// Rows `row0 .. row0 + rows`, columns `cols` of a row-major C with leading dimension `ld`.
pub(crate) struct CPart<'c> {
    /// Element `(row0, 0)` of C.
    base: *mut f32,
    row0: usize,
    rows: usize,
    ld: usize,
    cols: Range<usize>,
    _c: PhantomData<&'c mut [f32]>,
}

// SAFETY: a part is the only handle to its elements (the parts of one split are disjoint and
// borrow C exclusively), so moving it to another thread is moving a `&mut` to them.
unsafe impl Send for CPart<'_> {}

impl<'c> CPart<'c> {
    /// All of `c` (`m × n`) as one part.
    pub(crate) fn whole(c: &'c mut [f32], m: usize, n: usize) -> Self {
        assert_eq!(c.len(), m * n, "invariant: C is m × n");
        Self::at(c.as_mut_ptr(), 0, m, n, 0..n)
    }

    /// The bands `(row0, rows)` of `c` (`m × n`), in ascending, non-overlapping order, each
    /// with every column.
    pub(crate) fn row_bands(
        c: &'c mut [f32],
        m: usize,
        n: usize,
        bands: &[(usize, usize)],
    ) -> Vec<Self> {
        let cols = std::iter::repeat_n(0..n, bands.len());
        Self::split(c, m, n, bands.iter().copied().zip(cols))
    }

    /// Column ranges `ranges` (ascending, non-overlapping) of every row of `c` (`m × n`).
    pub(crate) fn col_ranges(
        c: &'c mut [f32],
        m: usize,
        n: usize,
        ranges: &[Range<usize>],
    ) -> Vec<Self> {
        Self::split(c, m, n, ranges.iter().map(|r| ((0, m), r.clone())))
    }

    fn split(
        c: &'c mut [f32],
        m: usize,
        n: usize,
        parts: impl Iterator<Item = ((usize, usize), Range<usize>)>,
    ) -> Vec<Self> {
        assert_eq!(c.len(), m * n, "invariant: C is m × n");
        let base = c.as_mut_ptr();
        let mut out: Vec<Self> = Vec::new();
        for ((row0, rows), cols) in parts {
            assert!(
                row0 + rows <= m && cols.start < cols.end && cols.end <= n,
                "invariant: a part lies inside C"
            );
            if let Some(prev) = out.last() {
                let below = prev.row0 + prev.rows <= row0;
                let right = prev.row0 == row0 && prev.rows == rows && prev.cols.end <= cols.start;
                assert!(below || right, "invariant: the parts of C are disjoint");
            }
            out.push(Self::at(base, row0, rows, n, cols));
        }
        out
    }

    /// Rows `row0 .. row0 + rows`, columns `cols` of the C at `c` (leading dimension `ld`);
    /// the callers check that the part lies inside C and overlaps no other.
    fn at(c: *mut f32, row0: usize, rows: usize, ld: usize, cols: Range<usize>) -> Self {
        Self {
            // In bounds: `row0 ≤ m`, and a part with rows has `row0 < m`.
            base: c.wrapping_add(row0 * ld),
            row0,
            rows,
            ld,
            cols,
            _c: PhantomData,
        }
    }

    /// The first row of C in this part.
    pub(crate) fn row0(&self) -> usize {
        self.row0
    }

    /// Rows in this part.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Leading dimension of C (the distance between rows).
    pub(crate) fn ld(&self) -> usize {
        self.ld
    }

    /// The address of element `(i, j)` (row `i` of this part, column `j` of C) of a
    /// `mr × nr` tile that lies inside this part; the tile's rows are `ld()` apart.
    pub(crate) fn tile(&mut self, i: usize, j: usize, mr: usize, nr: usize) -> *mut f32 {
        assert!(
            i + mr <= self.rows && self.cols.start <= j && j + nr <= self.cols.end,
            "invariant: a {mr} × {nr} tile at ({i}, {j}) lies inside the task's part of C"
        );
        self.base.wrapping_add(i * self.ld + j)
    }

    /// Columns `j .. j + len` of row `i` of this part.
    pub(crate) fn row_mut(&mut self, i: usize, j: usize, len: usize) -> &mut [f32] {
        let p = self.tile(i, j, 1, len);
        // SAFETY: `tile` checked that the run lies inside this part, which no other handle
        // reaches (disjoint parts of an exclusive borrow), and `&mut self` is held for the
        // slice's life.
        unsafe { std::slice::from_raw_parts_mut(p, len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_write_only_their_elements() {
        let (m, n) = (5, 7);
        let mut c = vec![0.0f32; m * n];
        {
            let mut parts = CPart::col_ranges(&mut c, m, n, &[0..3, 3..7]);
            for (v, part) in parts.iter_mut().enumerate() {
                for i in 0..m {
                    let cols = if v == 0 { 0..3 } else { 3..7 };
                    part.row_mut(i, cols.start, cols.len()).fill(v as f32 + 1.0);
                }
            }
        }
        for i in 0..m {
            assert_eq!(&c[i * n..i * n + 3], &[1.0; 3]);
            assert_eq!(&c[i * n + 3..i * n + 7], &[2.0; 4]);
        }
        let mut parts = CPart::row_bands(&mut c, m, n, &[(0, 2), (2, 3)]);
        parts[1].row_mut(0, 0, n).fill(9.0);
        assert_eq!(parts[1].row0(), 2);
        drop(parts);
        assert_eq!(&c[2 * n..3 * n], &[9.0; 7]);
    }

    #[test]
    #[should_panic(expected = "lies inside the task's part")]
    fn a_tile_outside_the_part_panics() {
        let mut c = vec![0.0f32; 4 * 8];
        let mut parts = CPart::col_ranges(&mut c, 4, 8, &[0..4, 4..8]);
        let _ = parts[0].tile(0, 2, 2, 4);
    }

    #[test]
    #[should_panic(expected = "disjoint")]
    fn overlapping_parts_panic() {
        let mut c = vec![0.0f32; 4 * 8];
        let _ = CPart::col_ranges(&mut c, 4, 8, &[0..5, 4..8]);
    }
}
