// Turning settings into the things a run needs: the device, the dataset, the class count.
#pragma once

#include "core/device.h"
#include "data/dataset.h"
#include "train/config.h"

namespace dybat {

// "" = cuda:0 when a GPU can be used, else the CPU; otherwise Device::parse, checked against the
// devices present.
Device resolve_device(const std::string& text);
// Loads the dataset the settings name (or the first found under --data, else the synthetic set,
// which load_dataset announces loudly) onto `device`. Notices go to stderr (none when `notices`
// is false: the other ranks of a data-parallel run).
Dataset load_run_dataset(const TrainConfig& c, Device device, bool notices = true);
// --classes, or the dataset's; an explicit count must cover every label.
int resolve_classes(const TrainConfig& c, const Dataset& ds);

}  // namespace dybat
