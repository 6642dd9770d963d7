"""The ``kedro scanflow`` commands."""
