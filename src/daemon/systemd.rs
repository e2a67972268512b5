//! sd_notify protocol (filled in by the systemd work).
