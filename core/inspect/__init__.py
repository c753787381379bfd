"""Inside the network: the layer table, receptive fields, feature maps and filter visualisation."""
