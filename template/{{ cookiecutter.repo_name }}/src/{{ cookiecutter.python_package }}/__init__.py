"""{{ cookiecutter.project_name }}: an MNIST workflow from the kedro-scanflow starter."""

__version__ = "0.1.0"
