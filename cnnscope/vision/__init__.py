"""Pictures: images in (Pillow), activation maps and filters out (PNG, terminal), the lecture's demos."""
