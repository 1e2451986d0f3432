// placeholder until the data readers land
