//! The exporter-toolkit web config (being written).
