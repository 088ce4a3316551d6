/* device.c - the one place that decides where models run. This build has
 * only the CPU engine, so every answer is "cpu"; what matters is saying why
 * when the user asked for a GPU. */
#include "runtime/runtime.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

void rt_device_select(const char *requested, char *device, size_t device_size,
                      char *note, size_t note_size)
{
    mm_strlcpy(device, "cpu", device_size);
    note[0] = '\0';
    if (requested && strcasecmp(requested, "gpu") == 0)
        snprintf(note, note_size, "a GPU was requested (device=gpu) but this build has no "
                 "GPU backend; running on the CPU");
}
