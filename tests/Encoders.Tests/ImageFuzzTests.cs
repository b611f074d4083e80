using System.Diagnostics;
using Catalogs.ImageFuzz;
using Catalogs.Imaging;
using Catalogs.Tests;

namespace Catalogs.Encoders.Tests;

/// <summary>
/// Mutation fuzzing of the whole image pipeline (header checks, Skia's codecs, resize), one child process per
/// format so that a native crash fails this test, names the input, and leaves the test host running.
/// </summary>
public class ImageFuzzTests
{
    const int Inputs = 20_000, RunSeed = 20261201;

    [Theory]
    [InlineData(ImageFormat.Jpeg)]
    [InlineData(ImageFormat.Png)]
    [InlineData(ImageFormat.Gif)]
    [InlineData(ImageFormat.WebP)]
    [InlineData(ImageFormat.Bmp)]
    public async Task Mutated_images_decode_or_are_refused_and_never_crash(ImageFormat format)
    {
        var program = Path.Combine(AppContext.BaseDirectory, "Catalogs.ImageFuzz.dll");
        var info = new ProcessStartInfo("dotnet", ["exec", program, format.ToString(), Inputs.ToString(),
            RunSeed.ToString()])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        using var child = Process.Start(info)!;
        var stderr = child.StandardError.ReadToEndAsync();
        int last = -1;
        var errors = new List<string>();
        string? done = null;
        while (await child.StandardOutput.ReadLineAsync() is { } line)
        {
            if (line.StartsWith("input ", StringComparison.Ordinal)) last = int.Parse(line[6..]);
            else if (line.StartsWith("error ", StringComparison.Ordinal)) errors.Add(line);
            else if (line.StartsWith("done ", StringComparison.Ordinal)) done = line;
        }
        await child.WaitForExitAsync();
        if (child.ExitCode != 0 || done is null)
        {
            // Rebuild the input that was being decoded when the process died, and keep it for a reproduction.
            var seeds = ImageMutator.LoadSeeds(Path.Combine(AppContext.BaseDirectory, "Seeds"), format);
            var crash = Path.Combine(TestPaths.NewTempDirectory("fuzz"), $"{format}-{last}.bin");
            File.WriteAllBytes(crash, new ImageMutator(seeds, RunSeed).Make(last));
            Assert.Fail($"The decoder process died (exit {child.ExitCode}) on {format} input {last}, saved as " +
                $"{crash}. " +
                await stderr);
        }
        Assert.True(errors.Count == 0, $"Untyped failures instead of refusals:\n{string.Join('\n', errors.Take(20))}");
        var counts = done.Split(' ');
        int decoded = int.Parse(counts[1]), refused = int.Parse(counts[2]);
        Assert.Equal(Inputs, decoded + refused);
        // Mutations that leave an image decodable must exist, or the run exercised only the header checks.
        Assert.True(decoded > Inputs / 50, $"Only {decoded} of {Inputs} mutated {format} images decoded.");
    }
}
