// placeholder until the nets land
