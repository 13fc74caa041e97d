//! Models (placeholder).
