print("medsam")
