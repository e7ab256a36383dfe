"""Training the built-in shapes model and its scorers, stage by stage (`diffalign world train`): the one part of
the built-in world that may import scorers (it trains them), so it sits above methods in the layer order."""
