"""The agent loop of ``kedro scanflow agent``: Algorithm 1 of the Scanflow agent paper."""
