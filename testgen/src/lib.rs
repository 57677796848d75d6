//! Test-data generator (being written).
