"""The course's warm-ups (seed 001): linear and logistic regression, scikit-learn vs Keras."""
