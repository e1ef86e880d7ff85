"""The board program, built and run for real: TFLite Micro sources, host and QEMU builds.

``sources`` finds or fetches the pinned TFLM sources, ``build`` compiles TFLM with only the
kernels a model uses (cached), ``host`` and ``qemu`` build and run the generated program on
this PC and on emulated Cortex-M boards, and ``verify`` compares what they print with TFLM's
Python interpreter and LiteRT. ``litelab deploy --verify host|qemu`` runs it.
"""
