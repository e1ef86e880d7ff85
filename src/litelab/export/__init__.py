"""Export and deployment: TFLite conversion, LiteRT checks, inspection, TFLM and C sources."""
