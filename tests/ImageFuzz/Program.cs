using Catalogs.ImageFuzz;
using Catalogs.Imaging;

// Usage: Catalogs.ImageFuzz <format> <count> <run seed> [first index]
// Prints "input <i>" before decoding input i, "error <i> <type>: <message>" for any exception that is not a typed
// refusal, and "done <decoded> <refused>" at the end. A native crash ends the process after an "input" line, which
// names the input that caused it.
var format = Enum.Parse<ImageFormat>(args[0], ignoreCase: true);
int count = int.Parse(args[1]), runSeed = int.Parse(args[2]), first = args.Length > 3 ? int.Parse(args[3]) : 0;
var seeds = ImageMutator.LoadSeeds(Path.Combine(AppContext.BaseDirectory, "Seeds"), format);
if (seeds.Length == 0) throw new InvalidOperationException($"No {format} seeds.");
var mutator = new ImageMutator(seeds, runSeed);
// A smaller pixel limit than the service's keeps the run short; the checks are the same.
var limits = new ImageLimits(MaxPixels: 1 << 20);
var options = PreprocessOptions.ImageNet(64);
var tensor = new float[options.TensorLength];
int decoded = 0, refused = 0;
bool verbose = Environment.GetEnvironmentVariable("FUZZ_VERBOSE") == "1";
for (int i = first; i < first + count; i++)
{
    var input = mutator.Make(i);
    Console.WriteLine($"input {i}");
    try
    {
        ImagePreprocessor.Preprocess(input, options, tensor, limits);
        decoded++;
    }
    catch (ImageRejectedException ex)
    {
        refused++;
        if (verbose) Console.WriteLine($"refused {i} {ex.Reason}: {ex.Message}");
    }
    catch (Exception ex)
    {
        Console.WriteLine($"error {i} {ex.GetType().Name}: {ex.Message.ReplaceLineEndings(" ")}");
    }
}
Console.WriteLine($"done {decoded} {refused}");
