"""Small widgets shared by the screens (ASCII-safe: readable on the Linux console and serial)."""
