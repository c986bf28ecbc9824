// ImageEncoder target.
