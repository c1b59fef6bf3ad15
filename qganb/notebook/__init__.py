"""Notebooks as the interface: the headless runner, kernels started ahead, the HTML report, rich
display objects, the IPython magics and the ipywidgets."""
