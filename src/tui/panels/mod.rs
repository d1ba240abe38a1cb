//! One file per screen region. Each exposes `render(app, area, buf)` and
//! reads `&App` only.

pub mod accuracy;
pub mod chart;
pub mod checklist;
pub mod controls;
pub mod data;
pub mod dropout;
pub mod footer;
pub mod header;
pub mod help;
pub mod loss;
pub mod picker;
pub mod weights;
