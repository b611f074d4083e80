using System.Diagnostics;
using System.Text.RegularExpressions;
using Catalogs.Tests;

namespace Catalogs.Encoders.Tests;

/// <summary>Every module a Python helper of the tests imports is installed, and test.sh knows its Debian package:
/// a fresh machine then passes without anything installed by hand.</summary>
public partial class HelperImportsTests
{
    [GeneratedRegex(@"^\s*(?:import|from)\s+([A-Za-z_][A-Za-z0-9_]*)", RegexOptions.Multiline)]
    private static partial Regex Import();

    [Fact]
    public void Every_import_of_every_helper_script_is_installed_and_installed_by_test_sh()
    {
        var scripts = Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "references"), "*.py");
        Assert.NotEmpty(scripts);
        var modules = scripts.SelectMany(s => Import().Matches(File.ReadAllText(s)).Select(m => m.Groups[1].Value))
            .Where(m => m is not ("sys" or "os" or "struct" or "io" or "math" or "json")).Distinct().Order().ToArray();
        Assert.Contains("onnx", modules);
        var testScript = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "test.sh"));
        var ci = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, ".ci", "run"));
        foreach (var module in modules)
        {
            var package = Regex.Match(testScript, $@"\[{module}\]=(\S+)");
            Assert.True(package.Success, $"test.sh does not map the module '{module}' to a Debian package.");
            Assert.Contains(package.Groups[1].Value.TrimEnd(')'), ci);
            using var python = Process.Start(new ProcessStartInfo("/usr/bin/python3", ["-c", $"import {module}"])
            {
                RedirectStandardError = true,
            })!;
            var error = python.StandardError.ReadToEnd();
            python.WaitForExit();
            Assert.True(python.ExitCode == 0, $"import {module} fails: {error}");
        }
    }
}
