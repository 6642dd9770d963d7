"""Serving the champion model: the HTTP application of ``kedro scanflow serve``, the model
that follows the registry alias, and the prediction store the agent reads."""
