"""A device's latency, predicted from its imported measurements: the fused kernels of an
architecture (`kernels`), the fitted model (`latency_model`), fitting and k-fold
cross-validation against the MACs baseline (`predictor`), and the devices folder the
measurements and predictors live in (`folder`).

Below `search` and `devices`: a search's predicted target reads a predictor from here, and
`workbench device import` fits one; neither reaches back up. Nothing is imported here.
"""
