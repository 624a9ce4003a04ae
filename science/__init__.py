"""The science of alert-lake: the light-curve feature library (``science.features``) and
the classifiers (``science.lc_classifier``, ``science.stamp_classifier``), each with its
batch function, model, training and card; ``science.registry`` lists the classifiers the
classify stage runs. See science/README.md."""
